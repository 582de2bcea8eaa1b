"""Scale-out: engine replicas on Ray, accelerate launches, torch.distributed helpers, CPU thread shares."""
