"""Offline commands: backtest, import, generate, and what they share."""
