"""Fleet rollouts through AWS IoT Jobs: the job document, the operator's requests (`dadc fleet`)
and the device's side (`dadc run --jobs`). The service schedules, paces, aborts and counts; dadc
gives each device's verdict and the fleet rollback the service lacks."""
