"""Business rules: plain functions taking a Session first. They never import Flask and never commit."""
