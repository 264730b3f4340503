"""What every part of reelsight agrees on: names, key layouts and formats (standard library only).

The CDK stacks, the Lambdas, the worker, the API, the client and the local stack import these
modules instead of spelling the values themselves, so they cannot drift apart. Nothing here may
import boto3, numpy, torch, fastapi or any other third-party package.
"""
