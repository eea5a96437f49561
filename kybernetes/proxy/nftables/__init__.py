"""The nftables proxy mode: one `ip kybernetes` table of DNAT rules, programmed through `nft -f -`."""
