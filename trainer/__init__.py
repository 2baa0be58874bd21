"""Model code run by the Transform, Tuner and Trainer components."""
