"""Training data and jobs for the SageMaker built-in Object Detection algorithm (seed 004).

``dataset`` turns CUB-style or COCO annotations into im2rec ``.lst`` files and RecordIO;
``recordio`` writes the RecordIO format without MXNet; ``launcher`` starts and watches the
training job. None of these modules imports MXNet or torch.
"""
