"""Metrics, the simple baselines every recipe prints next to its model, and backtesting.

Modules:
    classification_metrics: AUC, PR-AUC, log loss, thresholds (purchase prediction).
    ranking_metrics: full and sampled ranks, HR/NDCG/MRR (next-item recommendation).
    retrieval_metrics: ranks of a two-tower model over a candidate set.
    purchase_baselines: recency/frequency and event-count rules for purchase prediction.
    recommender_baselines: most popular, item co-occurrence, ... (next-item, retrieval).
    forecast_baselines: naive, seasonal naive, moving average (sales forecasting).
    backtest: rolling-origin backtests of a forecaster and its baselines.
"""
