"""AOTAutograd's training path and the partitioners (``torch/_functorch``)."""
