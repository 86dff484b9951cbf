"""A local, stateful stand-in for the parts of Stripe's API the bookshop uses."""
