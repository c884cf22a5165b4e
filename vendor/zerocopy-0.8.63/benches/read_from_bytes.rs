// stub: not compiled on the agent's platforms (audit/vendor.sh)
