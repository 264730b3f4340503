"""The results handler: SageMaker async notifications and Processing job state changes -> job records."""
