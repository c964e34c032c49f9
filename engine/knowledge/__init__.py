"""The company's facts: reading them, choosing what a reply sees, and keeping replies to them."""
