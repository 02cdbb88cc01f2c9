"""Hardware behind one small contract (:mod:`drivers.base`): force DAQ, cameras, the simulated lab
and replay. Vendor SDKs (nidaqmx, pypylon) are imported lazily inside their driver."""
