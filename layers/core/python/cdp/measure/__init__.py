"""Measurement: attribution of orders to messages, uplift against holdouts, marketing KPIs and the HTML report."""
