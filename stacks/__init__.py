"""The reelsight CDK app: stacks split by lifecycle, composed of one construct per unit."""
