"""Local, in-process AWS for the customer data platform: the template stood up in moto, with its triggers wired."""
