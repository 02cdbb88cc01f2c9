"""Force data acquisition (NI-DAQmx)."""
