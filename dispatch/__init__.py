"""Local stand-in for Knative Eventing's broker: JetStream -> function services, per the Triggers."""
