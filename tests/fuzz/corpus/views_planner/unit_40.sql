SELECT ind FROM geo WHERE timestamp > 'yesterday'
