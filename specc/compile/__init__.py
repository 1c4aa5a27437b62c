"""The back end: IR -> torch.fx GraphModule, IR -> standalone PyTorch source."""
