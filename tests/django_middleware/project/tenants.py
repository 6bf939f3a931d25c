"""A TENANT_RESOLVER for the tests: the tenant named in the query string."""


def from_query(request):
    return request.GET.get("tenant")


def broken(request):
    raise RuntimeError("resolver bug")
