"""Sessions: opening them with their token pair, listing and ending them."""
