"""The "simple" library registry and custom ops (models ``torch/_library/``)."""
