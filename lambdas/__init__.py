"""AWS Lambda functions of reelsight: the upload dispatcher and the results handler.

Only the standard library, boto3, Powertools and reelsight's torch-free modules are imported here.
"""
