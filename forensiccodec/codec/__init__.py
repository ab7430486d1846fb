"""Learned image codec components: TIC transforms, entropy models and coding, the .fcc container."""
