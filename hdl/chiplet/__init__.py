"""The NVLink Fusion chiplet beside each ASIC: AXI4 on the ASIC side, links to the planes."""
