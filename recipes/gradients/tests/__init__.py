"""The gradients recipe's own tests; they import the recipe relatively, so a copied folder runs its own."""
