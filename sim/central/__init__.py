"""The simulated central eligibility service: logic (service), routes (app), mTLS server."""
