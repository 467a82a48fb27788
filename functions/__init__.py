"""Stateless scoring functions (one folder each): CloudEvents over HTTP in, Redis boards out."""
