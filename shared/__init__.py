"""What the three Paritrana services share: settings, event contracts, Kafka, database, access and observability."""
