"""Chapter 05b: attribution methods scored against the planted causes."""
