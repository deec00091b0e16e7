"""The CDS Hooks door: discovery, the patient-view service, feedback and client authentication."""
