"""One construct per unit of the design; stacks compose them."""
