"""The local stack: the AWS flow (S3 -> SQS -> Lambdas -> async endpoint -> worker -> SNS) on one machine."""
