"""Code shared by the Lambdas (and by the API server and the local stack): settings, clients, job records."""
