"""The Orchestrator: the ticket pipeline's state machine as a service (GetTicketTimeline)."""
