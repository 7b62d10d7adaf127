"""Azure Service Bus adapters behind backends.ports."""
