"""What the data and model layers share about labels: the id of positions without a label."""

IGNORE_INDEX = -100  # padding (and anything else without a gold tag) in a labels tensor; losses skip it
