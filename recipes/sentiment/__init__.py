"""IMDB sentiment: a many-to-one RNN reads a review and gives P(positive)."""
