"""Container runtimes of the kubelet: the CRI-shaped contract (`interface`), the CRI log format (`logs`), backends."""
