"""The worker: SageMaker's inference contract (``serve``) and Processing contract (``process``).

``handler`` holds the model_fn / input_fn / predict_fn / output_fn split, ``server`` the HTTP
server around it, ``processing`` the Processing job, ``progress`` the progress reporter and
``bake`` the build-time weight download of the container image.
"""
