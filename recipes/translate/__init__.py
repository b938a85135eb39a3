"""Spanish to English translation: a Bidirectional encoder, an attentive decoder, BLEU on held-out pairs."""
