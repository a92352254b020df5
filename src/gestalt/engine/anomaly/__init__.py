"""Anomaly detection: an online model per metric series (`model.py`) and the detector
that samples the graph, judges and remembers (`detector.py`)."""

from gestalt.engine.anomaly.detector import ANOMALIES, Anomaly, Detector, Mute
from gestalt.engine.anomaly.model import LEARNING, NORMAL, UNUSUAL, SeriesModel, Tuning

__all__ = ["ANOMALIES", "LEARNING", "NORMAL", "UNUSUAL", "Anomaly", "Detector", "Mute",
           "SeriesModel", "Tuning"]
