"""What two or more recipes use: layer factories, training harness, config, data, reports."""
