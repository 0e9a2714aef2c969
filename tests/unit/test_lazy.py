"""mailrelay.lazy: a module named lazily executes on first use and is then the same module every import sees."""

import sys

from mailrelay.lazy import lazy


def test_a_lazy_module_runs_on_first_attribute_and_is_the_module_imports_see():
    name = "mailrelay.domain.captcha"
    sys.modules.pop(name, None)
    module = lazy(name)
    assert sys.modules[name] is module
    assert type(module).__name__ == "_LazyModule"  # not executed yet (type() does not touch its attributes)
    assert callable(module.verify)  # executed now
    assert type(module).__name__ == "module"
    import mailrelay.domain
    from mailrelay.domain import captcha

    assert captcha is module and mailrelay.domain.captcha is module
    assert lazy(name) is module  # imported already: returned as it is
