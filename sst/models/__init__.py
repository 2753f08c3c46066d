"""Model pieces: pretrained loaders, adapters, pooling, the SAMU and speech-translation models."""
