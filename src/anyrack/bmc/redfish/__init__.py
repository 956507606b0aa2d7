"""Standards-first Redfish: HTTP client, facts collection, the verb set, settings writes."""
