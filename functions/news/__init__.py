"""news: each news article (``dev.stampede.news.v1``) onto its tickers' rows and the news board."""
