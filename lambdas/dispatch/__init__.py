"""The upload dispatcher: S3 notifications (via SQS) -> async inference or a Processing job."""
