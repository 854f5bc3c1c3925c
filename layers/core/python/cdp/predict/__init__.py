"""Purchase predictions per customer: BG/NBD repeat buying, Gamma-Gamma spend, CLV, next order, replenishment.

Pure domain code on numpy, scipy and pyarrow; the models and formulas are described in docs/predictions.md.
"""
